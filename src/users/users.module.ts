import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { NotificationsModule } from '../notifications/notifications.module.js';
import { AuthController } from './auth.controller.js';
import { AuthService } from './auth.service.js';
import { OtpService } from './otp.service.js';
import { OfflinePinCache } from './offline-pin-cache.js';
import { PinLockout } from './pin-lockout.js';
import { SubscriberChanges } from './subscriber-changes.js';
import { User } from './user.entity.js';
import { UsersService } from './users.service.js';
import { UserIdentityCache } from './user-identity.cache.js';

@Module({
  imports: [TypeOrmModule.forFeature([User]), NotificationsModule],
  controllers: [AuthController],
  providers: [UsersService, PinLockout, OfflinePinCache, UserIdentityCache, OtpService, AuthService, SubscriberChanges],
  exports: [UsersService, SubscriberChanges],
})
export class UsersModule {}
