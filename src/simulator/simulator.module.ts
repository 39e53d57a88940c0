import { Module } from '@nestjs/common';
import { MpesaModule } from '../mpesa/mpesa.module.js';
import { NotificationsModule } from '../notifications/notifications.module.js';
import { SimulatorController } from './simulator.controller.js';

/**
 * The phone simulator (development tool): its JSON routes under /simulator/api. The page itself
 * (public/) is served by registerSimulatorPage. AppModule loads this only when SIMULATOR_ENABLED.
 */
@Module({
  imports: [NotificationsModule, MpesaModule],
  controllers: [SimulatorController],
})
export class SimulatorModule {}
