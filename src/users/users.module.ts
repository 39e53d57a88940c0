import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { NotificationsModule } from '../notifications/notifications.module';
import { PinLockout } from './pin-lockout';
import { User } from './user.entity';
import { UsersService } from './users.service';

@Module({
  imports: [TypeOrmModule.forFeature([User]), NotificationsModule],
  providers: [UsersService, PinLockout],
  exports: [UsersService],
})
export class UsersModule {}
