// C2B URL registration: where Daraja sends a shortcode's validation and confirmation requests.
import { parseC2bRegisterResponse, type C2bRegisterResponse } from './c2b.parsers.js';
import type { DarajaHttp } from './http.js';
import { invalid, url } from './request-checks.js';

export interface C2bRegisterRequest {
  confirmationUrl: string;
  validationUrl: string;
  /** What Daraja does when the validation URL does not answer. */
  responseType: 'Completed' | 'Cancelled';
  /** Default: the configured shortcode (MPESA_SHORTCODE). */
  shortCode?: string;
}

/** DarajaClient.registerC2bUrls. Not retried. */
export async function sendC2bRegistration(http: DarajaHttp, request: C2bRegisterRequest): Promise<C2bRegisterResponse> {
  const op = 'c2b_register';
  if (request.responseType !== 'Completed' && request.responseType !== 'Cancelled')
    throw invalid(op, 'responseType must be Completed or Cancelled');
  const body = {
    ShortCode: request.shortCode ?? http.options.shortcode,
    ResponseType: request.responseType,
    ConfirmationURL: url(op, request.confirmationUrl, 'confirmationUrl'),
    ValidationURL: url(op, request.validationUrl, 'validationUrl'),
  };
  const answer = await http.call('c2b_register', '/mpesa/c2b/v1/registerurl', body, false);
  return http.accepted('c2b_register', http.parseOk('c2b_register', answer, parseC2bRegisterResponse));
}
