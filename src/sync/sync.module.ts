import { Module } from '@nestjs/common';

/**
 * Owns the offline queue and the mobile sync API (DESIGN.md section 1).
 * Empty until its issue lands: it serves no route and claims no behaviour yet.
 */
@Module({})
export class SyncModule {}
