import { isCrossSite, type RequestOrigin } from './cross-site.js';

const own = { protocol: 'https', host: 'deni.example' };
const post = (headers: Partial<RequestOrigin>): RequestOrigin => ({ method: 'POST', ...own, ...headers });

describe(isCrossSite.name, () => {
  it('never refuses a read, whoever sends it', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS'])
      expect(isCrossSite({ method, ...own, secFetchSite: 'cross-site', origin: 'https://evil.example' })).toBe(false);
  });

  it('refuses every write method a browser on another site may send', () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'delete'])
      expect({ method, refused: isCrossSite({ method, ...own, origin: 'https://evil.example' }) }).toEqual({
        method,
        refused: true,
      });
  });

  it('believes Fetch Metadata when the browser sends it: only same-origin and user-typed requests pass', () => {
    expect(isCrossSite(post({ secFetchSite: 'same-origin', origin: 'https://deni.example' }))).toBe(false);
    expect(isCrossSite(post({ secFetchSite: 'none' }))).toBe(false);
    expect(isCrossSite(post({ secFetchSite: 'Same-Origin' }))).toBe(false);
    for (const secFetchSite of ['cross-site', 'same-site', 'something-new'])
      expect({ secFetchSite, refused: isCrossSite(post({ secFetchSite })) }).toEqual({ secFetchSite, refused: true });
  });

  it('without Fetch Metadata, compares Origin with the scheme, host and port the client used', () => {
    for (const origin of ['https://deni.example', 'https://DENI.example', 'https://deni.example:443'])
      expect({ origin, refused: isCrossSite(post({ origin })) }).toEqual({ origin, refused: false });
    for (const origin of [
      'null',
      'http://deni.example',
      'https://deni.example:8443',
      'https://deni.example.evil.example',
      'https://evil.example',
      'chrome-extension://abcdef',
      'not a url',
      '',
    ])
      expect({ origin, refused: isCrossSite(post({ origin })) }).toEqual({ origin, refused: true });
    // IPv6 hosts, ports spelled out or not.
    expect(isCrossSite(post({ protocol: 'http', host: '[::1]:5000', origin: 'http://[::1]:5000' }))).toBe(false);
    expect(isCrossSite(post({ protocol: 'http', host: '[::1]:5000', origin: 'http://[::1]:5001' }))).toBe(true);
    // An Origin with no Host to compare it with cannot be shown to be ours.
    expect(isCrossSite(post({ host: undefined, origin: 'https://deni.example' }))).toBe(true);
  });

  it('lets through what no browser page sent: no Origin and no Sec-Fetch-Site (gateways, Daraja, apps, curl)', () => {
    expect(isCrossSite(post({}))).toBe(false);
    expect(isCrossSite(post({ host: undefined }))).toBe(false);
  });
});
