import { Module } from '@nestjs/common';
import { NotificationsModule } from '../notifications/notifications.module.js';
import { SimulatorController } from './simulator.controller.js';

/**
 * The phone simulator (development tool): its JSON routes under /simulator/api, which drive the
 * Daraja simulator's own process over HTTP (none runs inside Deni). The page itself
 * (public/) is served by registerSimulatorPage. AppModule loads this only when SIMULATOR_ENABLED.
 */
@Module({
  imports: [NotificationsModule],
  controllers: [SimulatorController],
})
export class SimulatorModule {}
