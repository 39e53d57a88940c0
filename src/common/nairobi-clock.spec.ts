import { fromNairobiWallClock, nairobiDayMonth, nairobiTime } from './nairobi-clock.js';

describe('Nairobi clock (UTC+3, no daylight saving)', () => {
  it('reads the wall clock three hours ahead of UTC, across midnight and year end', () => {
    expect(nairobiTime(Date.parse('2024-07-06T19:48:52Z'))).toBe('22:48');
    expect(nairobiTime(Date.parse('2024-12-31T21:30:00Z'))).toBe('00:30');
    expect(nairobiDayMonth(Date.parse('2024-12-31T21:30:00Z'))).toBe('01/01');
    expect(nairobiDayMonth(Date.parse('2024-07-06T20:59:59Z'))).toBe('06/07');
  });

  it('turns a Nairobi wall-clock reading back into the instant', () => {
    expect(fromNairobiWallClock(2025, 1, 1, 0, 30, 0).toISOString()).toBe('2024-12-31T21:30:00.000Z');
  });
});
