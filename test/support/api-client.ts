import type { NestFastifyApplication } from '@nestjs/platform-fastify';

export const ADMIN_KEY = 'test-admin-key-0123456789';

/** Thin helpers over app.inject for the REST API, as a web or mobile client would use it. */
export class ApiClient {
  constructor(private readonly app: NestFastifyApplication) {}

  /**
   * The response body is typed by the caller (`T`), as the shape it reads; unknown until it says.
   * A response without a body gives `undefined`, whatever `T` says.
   */
  async call<T = unknown>(
    method: 'GET' | 'POST',
    url: string,
    options: { token?: string; admin?: boolean; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.admin) headers['x-api-key'] = ADMIN_KEY;
    const res = await this.app.inject({
      method,
      url,
      headers,
      ...(options.body !== undefined ? { payload: options.body as object } : {}),
    });
    return { status: res.statusCode, body: res.body ? res.json<T>() : (undefined as T) };
  }

  /** The newest SMS body of a template sent to a number (read through the admin outbox route). */
  async lastSms(phoneNumber: string, template: string): Promise<string | undefined> {
    const res = await this.call<{ template: string; body: string }[]>(
      'GET',
      `/api/admin/notifications?phoneNumber=${phoneNumber}`,
      { admin: true },
    );
    return res.body.find((n) => n.template === template)?.body;
  }

  /** Onboards a number the way the mobile app does (OTP, PIN) and logs in. */
  async onboard(phoneNumber: string, pin = '4821'): Promise<string> {
    const otp = await this.call('POST', '/api/auth/otp', { body: { phoneNumber } });
    if (otp.status !== 202) throw new Error(`otp: ${otp.status} ${JSON.stringify(otp.body)}`);
    const sms = await this.lastSms(phoneNumber, 'auth.otp');
    const code = sms?.match(/\b(\d{6})\b/)?.[1];
    if (!code) throw new Error('no OTP SMS found');
    const set = await this.call('POST', '/api/auth/pin', { body: { phoneNumber, otp: code, pin } });
    if (set.status !== 200) throw new Error(`pin: ${set.status} ${JSON.stringify(set.body)}`);
    return this.login(phoneNumber, pin);
  }

  async login(phoneNumber: string, pin = '4821'): Promise<string> {
    const res = await this.call<{ accessToken: string }>('POST', '/api/auth/login', { body: { phoneNumber, pin } });
    if (res.status !== 200) throw new Error(`login: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.accessToken;
  }
}
