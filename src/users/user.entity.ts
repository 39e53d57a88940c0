import type { Language } from '../common/language.js';
import { Check, Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

@Entity('users')
@Check('CHK_users_phone_number', `"phone_number" ~ '^254[17][0-9]{8}$'`)
@Check('CHK_users_language', `"language" IN ('en', 'sw')`)
export class User {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  /** Kenyan mobile number in international form without '+': 2547XXXXXXXX or 2541XXXXXXXX. */
  @Column({ name: 'phone_number', type: 'varchar', length: 12, unique: true })
  phoneNumber!: string;

  @Column({ type: 'varchar', length: 2, default: 'en' })
  language!: Language;

  /** `v1$<salt>$<hmac>`: never the PIN, never logged. Null until the user creates a PIN. */
  @Column({ name: 'pin_hash', type: 'varchar', length: 128, nullable: true, select: false })
  pinHash!: string | null;

  @Column({ name: 'pin_set_at', type: 'timestamptz', nullable: true })
  pinSetAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
