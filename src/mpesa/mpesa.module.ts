import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import { DARAJA_OPTIONS, DarajaClient } from './daraja.client.js';
import { darajaClientOptions } from './daraja.options.js';
import { DarajaSimulatorHost } from './simulator/daraja-simulator.host.js';

/**
 * M-PESA (DESIGN.md section 6). So far: the Daraja client and the local Daraja simulator it uses
 * when MPESA_BASE_URL is unset. Callbacks, the payments table and reconciliation build on these.
 * DARAJA_OPTIONS is exported so an application (or a test) can override what the client uses.
 */
@Module({
  providers: [
    DarajaSimulatorHost,
    {
      provide: DARAJA_OPTIONS,
      inject: [ConfigService, DarajaSimulatorHost],
      useFactory: (config: ConfigService<AppConfig, true>, host: DarajaSimulatorHost) =>
        darajaClientOptions(config.get('mpesa', { infer: true }), config.get('isProduction', { infer: true }), () => host.url()),
    },
    DarajaClient,
  ],
  exports: [DarajaClient, DarajaSimulatorHost, DARAJA_OPTIONS],
})
export class MpesaModule {}
