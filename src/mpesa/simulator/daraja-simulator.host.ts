import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../../config/app-config.js';
import { startDarajaSimulator, type DarajaSimulator } from '../../simulators/daraja/daraja-simulator.js';

/**
 * The in-process Daraja simulator that stands in for Daraja when MPESA_BASE_URL is unset
 * (development and tests; never production). Started on first use, with this app's credentials,
 * and closed with the application. A simulator page can reach it through `simulator()`.
 */
@Injectable()
export class DarajaSimulatorHost implements OnApplicationShutdown {
  private readonly logger = new Logger('DarajaSimulator');
  private started?: Promise<DarajaSimulator>;

  constructor(private readonly config: ConfigService<AppConfig, true>) {}

  simulator(): Promise<DarajaSimulator> {
    if (this.config.get('isProduction', { infer: true })) {
      return Promise.reject(new Error('the Daraja simulator never runs in production'));
    }
    this.started ??= this.start().catch((e: unknown) => {
      this.started = undefined;
      throw e;
    });
    return this.started;
  }

  async url(): Promise<string> {
    return (await this.simulator()).url;
  }

  async onApplicationShutdown(): Promise<void> {
    const simulator = await this.started?.catch(() => undefined);
    await simulator?.close();
  }

  private async start(): Promise<DarajaSimulator> {
    const mpesa = this.config.get('mpesa', { infer: true });
    const simulator = await startDarajaSimulator({
      consumerKey: mpesa.consumerKey,
      consumerSecret: mpesa.consumerSecret,
      passkey: mpesa.passkey,
      initiatorName: mpesa.initiatorName,
      initiatorPassword: mpesa.initiatorPassword,
    });
    this.logger.log(`Daraja simulator listening on ${simulator.url} (MPESA_BASE_URL is unset)`);
    return simulator;
  }
}
