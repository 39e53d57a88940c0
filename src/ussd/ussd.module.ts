import { Module } from '@nestjs/common';

/**
 * Owns gateway dialects, Redis sessions, the journey engine and the seed's /api/ussd/* endpoints (DESIGN.md section 1).
 * Empty until its issue lands: it serves no route and claims no behaviour yet.
 */
@Module({})
export class UssdModule {}
