/**
 * The development credentials the simulators process accepts (src/simulators/main.ts), and the
 * only ones Deni accepts with DENI_DEMO (demo.ts). They are public: they open nothing real.
 */

/**
 * Stand-ins outside production, so development and tests run against the local simulator with
 * no configuration. The passkey is Safaricom's published sandbox passkey; the rest are Deni's own.
 */
export const MPESA_DEVELOPMENT_DEFAULTS = {
  consumerKey: 'deni-simulator-consumer-key',
  consumerSecret: 'deni-simulator-consumer-secret',
  passkey: 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919',
  initiatorName: 'testapi',
  initiatorPassword: 'deni-simulator-initiator-password',
  callbackSecret: 'deni-development-mpesa-callback',
} as const;

/** The Africa's Talking account the simulator accepts. */
export const AT_SIMULATOR_CREDENTIALS = { username: 'sandbox', apiKey: 'simulator-api-key' } as const;
