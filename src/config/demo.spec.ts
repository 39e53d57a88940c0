import { buildConfig, parseEnv } from './app-config.js';
import { DEMO_CREDENTIALS } from './demo.js';
import { AT_SIMULATOR_CREDENTIALS, MPESA_DEVELOPMENT_DEFAULTS } from './simulator-credentials.js';
import { darajaClientOptions } from '../mpesa/daraja.options.js';
import { configProblems } from '../../test/support/config-problems.js';

/** A production api as the demo stack runs it (demo.env): secrets set, providers the simulators service. */
const DEMO = {
  NODE_ENV: 'production',
  DENI_DEMO: 'true',
  ADMIN_API_KEY: 'demo-admin-key-not-secret',
  JWT_SECRET: 'demo-jwt-secret-not-secret-0123456789',
  PIN_PEPPER: 'demo-pin-pepper-not-secret-0123456789',
  USSD_WEBHOOK_SECRET: 'demo-ussd-webhook-secret',
  MPESA_BASE_URL: 'http://simulators:8383',
  MPESA_CALLBACK_BASE_URL: 'http://api:5000',
  MPESA_CALLBACK_SECRET: 'demo-mpesa-callback-secret',
  SMS_PROVIDER: 'africastalking',
  AT_BASE_URL: 'http://simulators:8383',
  AT_USERNAME: AT_SIMULATOR_CREDENTIALS.username,
  AT_API_KEY: AT_SIMULATOR_CREDENTIALS.apiKey,
  AT_DELIVERY_REPORT_SECRET: 'demo-at-delivery-report-secret',
};

const problems = (env: Record<string, string | undefined>) => configProblems(env).join('\n');

describe('DENI_DEMO (the demo stack)', () => {
  it('starts a production process against the simulators service with their development credentials', () => {
    const config = buildConfig(parseEnv(DEMO));
    expect(config).toMatchObject({ demo: true, isProduction: true });
    expect(config.mpesa).toMatchObject({
      baseUrl: 'http://simulators:8383',
      consumerKey: MPESA_DEVELOPMENT_DEFAULTS.consumerKey,
      initiatorPassword: MPESA_DEVELOPMENT_DEFAULTS.initiatorPassword,
      certPath: undefined,
      simulatorCertificate: true,
      callbackBaseUrl: 'http://api:5000',
      c2bVerify: true,
    });
    expect(config.sms.africasTalking.baseUrl).toBe('http://simulators:8383');
    // Production's other rules stand: the phone simulator page stays off unless asked for.
    expect(config.simulator.enabled).toBe(false);
    // B2C encrypts with the simulator's certificate, fetched from it.
    expect(darajaClientOptions(config.mpesa)).toMatchObject({
      certificatePem: undefined,
      simulatorCertificate: true,
    });
  });

  it('accepts the development credentials written out, as demo.env may', () => {
    expect(problems({ ...DEMO, ...DEMO_CREDENTIALS })).toBe('');
  });

  it('is off by default, and production never takes the certificate from a simulator', () => {
    const config = buildConfig(parseEnv({}));
    expect(config.demo).toBe(false);
    expect(config.mpesa.simulatorCertificate).toBe(true); // development
    expect(parseEnv({ DENI_DEMO: 'false' }).DENI_DEMO).toBe(false);
    const production = buildConfig(
      parseEnv({
        ...DEMO,
        DENI_DEMO: undefined,
        MPESA_BASE_URL: 'https://api.safaricom.co.ke',
        MPESA_CALLBACK_BASE_URL: 'https://deni.example.com',
        MPESA_CALLBACK_ALLOWED_IPS: '196.201.214.0/24',
        SAFARICOM_CONSUMER_KEY: 'k',
        SAFARICOM_CONSUMER_SECRET: 's',
        MPESA_PASSKEY: 'p',
        MPESA_INITIATOR_NAME: 'n',
        MPESA_INITIATOR_PASSWORD: 'w',
        MPESA_CERT_PATH: '/etc/deni/safaricom.cer',
        SMS_PROVIDER: 'log',
        AT_BASE_URL: undefined,
      }),
    );
    expect(production.mpesa.simulatorCertificate).toBe(false);
  });

  it("without the switch, the demo's settings are refused in production (http, no certificate, no Safaricom)", () => {
    const refused = problems({ ...DEMO, DENI_DEMO: undefined });
    expect(refused).toMatch(/MPESA_BASE_URL: must be an https:\/\/ URL/);
    expect(refused).toMatch(/MPESA_CERT_PATH: required/);
    expect(refused).toMatch(/SAFARICOM_CONSUMER_KEY: required/);
  });

  it.each([
    ['https://api.safaricom.co.ke'],
    ['https://sandbox.safaricom.co.ke'],
    ['http://127.0.0.1:8383'],
    ['https://simulators:8383'],
    ['http://simulators.example.com:8383'],
  ])('refuses MPESA_BASE_URL=%s: only the simulators service', (url) => {
    expect(problems({ ...DEMO, MPESA_BASE_URL: url })).toMatch(/^MPESA_BASE_URL: must be http:\/\/simulators:<port>/m);
  });

  it('refuses a demo with no MPESA_BASE_URL or no callback address', () => {
    expect(problems({ ...DEMO, MPESA_BASE_URL: undefined })).toMatch(/MPESA_BASE_URL: required when DENI_DEMO=true/);
    expect(problems({ ...DEMO, MPESA_CALLBACK_BASE_URL: '' })).toMatch(
      /MPESA_CALLBACK_BASE_URL: required when DENI_DEMO=true/,
    );
  });

  it("refuses SMS through Africa's Talking itself, whether named or by default", () => {
    expect(problems({ ...DEMO, AT_BASE_URL: 'https://api.africastalking.com' })).toMatch(
      /AT_BASE_URL: must be http:\/\/simulators:<port>/,
    );
    expect(problems({ ...DEMO, AT_BASE_URL: undefined })).toMatch(/AT_BASE_URL: required when DENI_DEMO=true/);
    // SMS kept in the outbox: no AT_BASE_URL needed, but a live one is still refused.
    expect(problems({ ...DEMO, SMS_PROVIDER: 'log', AT_BASE_URL: undefined })).toBe('');
    expect(problems({ ...DEMO, SMS_PROVIDER: 'log', AT_BASE_URL: 'https://api.africastalking.com' })).toMatch(
      /AT_BASE_URL: must be/,
    );
  });

  it.each(Object.keys(DEMO_CREDENTIALS).map((k) => [k]))(
    'refuses a %s other than the simulator’s, without repeating it',
    (variable) => {
      const real = 'a-real-credential-value';
      const refused = problems({ ...DEMO, [variable]: real });
      expect(refused).toMatch(new RegExp(`^${variable}: must be the simulator's development value`, 'm'));
      expect(refused).not.toContain(real);
    },
  );

  it("refuses a certificate file: the simulator's own is the one that decrypts", () => {
    expect(problems({ ...DEMO, MPESA_CERT_PATH: '/run/secrets/daraja_certificate' })).toMatch(
      /MPESA_CERT_PATH: must be unset when DENI_DEMO=true/,
    );
  });

  it("keeps production's secrets required", () => {
    expect(problems({ ...DEMO, ADMIN_API_KEY: undefined, MPESA_CALLBACK_SECRET: undefined })).toMatch(
      /ADMIN_API_KEY: required when NODE_ENV=production[\s\S]*MPESA_CALLBACK_SECRET: required/,
    );
  });
});
