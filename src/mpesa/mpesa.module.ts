import { Module } from '@nestjs/common';

/**
 * Owns the Daraja client, callbacks, reconciliation and the local Daraja simulator (DESIGN.md section 1).
 * Empty until its issue lands: it serves no route and claims no behaviour yet.
 */
@Module({})
export class MpesaModule {}
