import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';

/** A subscriber's phone talking to the webhook in the Africa's Talking dialect. */
export class AtPhone {
  private sessionId = '';
  private text = '';

  constructor(
    private readonly app: NestFastifyApplication,
    readonly phoneNumber: string,
    private readonly url = '/api/ussd/handler',
  ) {}

  /** Dials *383# (or a shortcut such as '1*0722000000'); returns the screen. */
  async dial(shortcut = ''): Promise<string> {
    this.sessionId = `ATUid_${randomUUID()}`;
    this.text = shortcut;
    return this.send();
  }

  /** Types an answer. */
  async reply(input: string): Promise<string> {
    this.text = this.text === '' ? input : `${this.text}*${input}`;
    return this.send();
  }

  /** Sends the previous request again, as a gateway retry would. */
  async retry(): Promise<string> {
    return this.send();
  }

  async send(text = this.text): Promise<string> {
    const res = await this.app.inject({
      method: 'POST',
      url: this.url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        sessionId: this.sessionId,
        serviceCode: '*383#',
        phoneNumber: `+${this.phoneNumber}`,
        networkCode: '63902',
        text,
      }).toString(),
    });
    if (res.statusCode !== 200) throw new Error(`USSD ${res.statusCode}: ${res.body}`);
    return res.body;
  }

  get session(): string {
    return this.sessionId;
  }
}
