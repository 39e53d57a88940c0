import { Inject } from '@nestjs/common';

export const REDIS = Symbol('REDIS');
/** Inject Deni's Redis client (keys prefixed with `<REDIS_KEY_PREFIX>:`). */
export const InjectRedis = () => Inject(REDIS);
