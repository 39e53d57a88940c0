import type { Language } from '../common/language.js';
import { Check, Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

@Entity('users')
@Check('CHK_users_phone_number', `"phone_number" ~ '^254[17][0-9]{8}$'`)
@Check('CHK_users_language', `"language" IN ('en', 'sw')`)
@Check('CHK_users_name', `"name" IS NULL OR char_length("name") BETWEEN 2 AND 40`)
@Check('CHK_users_mpesa_name', `("mpesa_name" IS NULL) = ("mpesa_name_source" IS NULL)`)
export class User {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  /** Kenyan mobile number in international form without '+': 2547XXXXXXXX or 2541XXXXXXXX. */
  @Column({ name: 'phone_number', type: 'varchar', length: 12, unique: true })
  phoneNumber!: string;

  @Column({ type: 'varchar', length: 2, default: 'en' })
  language!: Language;

  /** The name the subscriber set (parseDisplayName), as typed; null until they set one. */
  @Column({ type: 'varchar', length: 40, nullable: true })
  name!: string | null;

  /**
   * The name M-PESA reported for the subscriber's own number (a B2C result's
   * ReceiverPartyPublicName), title-cased; shown only while they have set none.
   */
  @Column({ name: 'mpesa_name', type: 'varchar', length: 40, nullable: true })
  mpesaName!: string | null;

  /** Where mpesaName came from, e.g. `b2c:<TransactionID>`. */
  @Column({ name: 'mpesa_name_source', type: 'varchar', length: 80, nullable: true })
  mpesaNameSource!: string | null;

  /** Shown only to people the subscriber has dealt with (a loan between them, see PeopleService). */
  @Column({ name: 'name_hidden', type: 'boolean', default: false })
  nameHidden!: boolean;

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
