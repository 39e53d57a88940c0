import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import type { CallbackPath } from './mpesa.rules.js';

/** The URLs Deni gives Daraja to post results to, for every flow. */
@Injectable()
export class MpesaCallbackUrls {
  private readonly settings: AppConfig['mpesa'];

  constructor(config: ConfigService<AppConfig, true>) {
    this.settings = config.get('mpesa', { infer: true });
  }

  /** Where Daraja calls back; the secret segment keeps strangers from posting results. */
  callbackUrl(path: CallbackPath): string {
    return `${this.settings.callbackBaseUrl.replace(/\/$/, '')}/api/mpesa/callbacks/${this.settings.callbackSecret}/${path}`;
  }
}
