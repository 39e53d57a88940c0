import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches, MaxLength } from 'class-validator';

export class RequestOtpDto {
  @ApiProperty({ example: '0712345678', description: 'Kenyan mobile number: +2547…, 2547…, 07… or 01…' })
  @IsString()
  @MaxLength(20)
  phoneNumber!: string;
}

export class SetPinDto extends RequestOtpDto {
  @ApiProperty({ example: '482913', description: 'The 6-digit code sent by SMS' })
  @IsString()
  @Matches(/^\d{6}$/, { message: 'otp must be 6 digits' })
  otp!: string;

  @ApiProperty({ example: '4821', description: '4 digits; not all one digit, not a sequence' })
  @IsString()
  @Matches(/^\d{4}$/, { message: 'pin must be 4 digits' })
  pin!: string;
}

export class LoginDto extends RequestOtpDto {
  @ApiProperty({ example: '4821' })
  @IsString()
  @Matches(/^\d{4}$/, { message: 'pin must be 4 digits' })
  pin!: string;
}

export class OtpSentDto {
  @ApiProperty({ example: true })
  sent!: boolean;

  @ApiProperty({ example: 300 })
  expiresInSeconds!: number;
}

export class PinSetDto {
  @ApiProperty({ example: true })
  pinSet!: boolean;
}

export class TokenDto {
  @ApiProperty({ example: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…' })
  accessToken!: string;

  @ApiProperty({ example: 'Bearer' })
  tokenType!: 'Bearer';

  @ApiProperty({ example: 900, description: 'Seconds until the token expires' })
  expiresIn!: number;
}
