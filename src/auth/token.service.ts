import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JwtService } from '@nestjs/jwt';
import type { AppConfig } from '../config/app-config.js';

export interface AuthenticatedUser {
  userId: string;
  phoneNumber: string;
}

export interface IssuedToken {
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

/** Short-lived bearer tokens for the web and mobile clients (HS256 with JWT_SECRET). */
@Injectable()
export class TokenService {
  private readonly ttlSeconds: number;

  constructor(
    private readonly jwt: JwtService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.ttlSeconds = config.get('security', { infer: true }).jwtTtlSeconds;
  }

  async issue(user: AuthenticatedUser): Promise<IssuedToken> {
    const accessToken = await this.jwt.signAsync(
      { sub: user.userId, phone: user.phoneNumber },
      { expiresIn: this.ttlSeconds },
    );
    return { accessToken, tokenType: 'Bearer', expiresIn: this.ttlSeconds };
  }

  /** The user a token names, or null when it is missing, forged or expired. */
  async verify(token: string): Promise<AuthenticatedUser | null> {
    try {
      const payload = await this.jwt.verifyAsync<{ sub?: unknown; phone?: unknown }>(token, { algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || typeof payload.phone !== 'string') return null;
      return { userId: payload.sub, phoneNumber: payload.phone };
    } catch {
      return null;
    }
  }
}
