import { sign, type KeyObject } from 'node:crypto';

/**
 * A minimal self-signed X.509 certificate (DER built by hand: Node can parse certificates but
 * not create them). It gives the simulator the same kind of artefact Safaricom hands out, so the
 * client reads a certificate PEM in development exactly as it does in production.
 */
export function selfSignedCertificate(
  keys: { publicKey: KeyObject; privateKey: KeyObject },
  commonName: string,
  now = new Date(),
): string {
  const sha256WithRsa = seq(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]));
  const name = seq(set(seq(oid('2.5.4.3'), der(0x0c, Buffer.from(commonName, 'utf8')))));
  const notBefore = new Date(now.getTime() - 3_600_000);
  const notAfter = new Date(Math.min(now.getTime() + 10 * 365 * 86_400_000, Date.UTC(2049, 11, 31)));
  const tbs = seq(
    der(0xa0, integer(Buffer.from([2]))), // version 3
    integer(Buffer.from(now.getTime().toString(16).padStart(12, '0'), 'hex')),
    sha256WithRsa,
    name,
    seq(utcTime(notBefore), utcTime(notAfter)),
    name,
    keys.publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, keys.privateKey);
  const certificate = seq(tbs, sha256WithRsa, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const base64 = certificate.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`;
}

function der(tag: number, content: Buffer): Buffer {
  const length = content.length;
  let header: Buffer;
  if (length < 0x80) {
    header = Buffer.from([tag, length]);
  } else {
    const hex = length.toString(16);
    const bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
    header = Buffer.concat([Buffer.from([tag, 0x80 | bytes.length]), bytes]);
  }
  return Buffer.concat([header, content]);
}

function seq(...parts: Buffer[]): Buffer {
  return der(0x30, Buffer.concat(parts));
}

function set(...parts: Buffer[]): Buffer {
  return der(0x31, Buffer.concat(parts));
}

function integer(bytes: Buffer): Buffer {
  // DER integers are signed: a leading 1 bit needs a zero byte in front.
  return der(0x02, bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const out = [40 * first + second];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = n >>> 7; v > 0; v >>>= 7) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return der(0x06, Buffer.from(out));
}

function utcTime(date: Date): Buffer {
  const text = date.toISOString().slice(2, 19).replace(/[-T:]/g, '') + 'Z';
  return der(0x17, Buffer.from(text, 'ascii'));
}
