/**
 * The part of `mpesa-node` (Safaricom's Node library, 0.1.3, CommonJS without types) that
 * test/daraja-third-party-client.test.ts drives. Every call resolves to axios 0.18's response.
 */
declare module 'mpesa-node' {
  interface MpesaResponse<T = Record<string, unknown>> {
    status: number;
    data: T;
  }

  interface MpesaConfig {
    consumerKey: string;
    consumerSecret: string;
    environment?: 'sandbox' | 'production';
    shortCode?: string;
    initiatorName?: string;
    lipaNaMpesaShortCode?: string;
    lipaNaMpesaShortPass?: string;
    /** The initiator password, encrypted with the certificate at certPath into SecurityCredential. */
    securityCredential?: string;
    certPath?: string;
  }

  class Mpesa {
    constructor(config: MpesaConfig);
    /** `https://sandbox.safaricom.co.ke` until changed; every call goes there. */
    baseURL: string;
    oAuth(): Promise<MpesaResponse<{ access_token: string; expires_in: number | string }>>;
    lipaNaMpesaOnline(
      senderMsisdn: string | number,
      amount: number,
      callbackUrl: string,
      accountRef: string,
      transactionDesc?: string,
      transactionType?: string,
      shortCode?: string | null,
      passKey?: string | null,
    ): Promise<MpesaResponse>;
    lipaNaMpesaQuery(
      checkoutRequestId: string,
      shortCode?: string | null,
      passKey?: string | null,
    ): Promise<MpesaResponse>;
    b2c(
      senderParty: string | number,
      receiverParty: string | number,
      amount: number,
      queueUrl: string,
      resultUrl: string,
      commandId?: string,
      initiatorName?: string | null,
      remarks?: string,
      occasion?: string,
    ): Promise<MpesaResponse>;
    c2bRegister(
      confirmationUrl: string,
      validationUrl: string,
      shortCode?: string | null,
      responseType?: 'Completed' | 'Cancelled',
    ): Promise<MpesaResponse>;
    c2bSimulate(
      msisdn: string | number,
      amount: number,
      /** null for a till (CustomerBuyGoodsOnline). */
      billRefNumber: string | null,
      commandId?: 'CustomerPayBillOnline' | 'CustomerBuyGoodsOnline',
      shortCode?: string | null,
    ): Promise<MpesaResponse>;
  }

  export = Mpesa;
}
