import { existsSync, readFileSync } from 'node:fs';
import { DIAGRAM_PATH, journeyDocument, journeyMermaid } from '../scripts/journey-diagram.js';
import { ScreenId } from '../src/ussd/engine/types.js';
import { journeyScreens } from '../src/ussd/journeys/index.js';

const STALE =
  'docs/ussd-journey.md is out of date with src/ussd/journeys: run `npm run journey:diagram` and commit the result.';

describe('the journey diagram (docs/ussd-journey.md)', () => {
  it('is committed and matches the screens', () => {
    if (!existsSync(DIAGRAM_PATH)) throw new Error(`docs/ussd-journey.md is missing. ${STALE}`);
    const committed = readFileSync(DIAGRAM_PATH, 'utf8');
    if (committed !== journeyDocument() || !committed.includes(journeyMermaid())) throw new Error(STALE);
  });

  it('draws every screen once, every leadsTo entry as an edge, and marks the main menu', () => {
    const mermaid = journeyMermaid();
    const lines = mermaid.split('\n');
    expect(lines[0]).toBe('flowchart TD');
    const screens = journeyScreens();
    expect([...screens.keys()].sort()).toEqual(Object.values(ScreenId).sort());
    for (const [id, def] of screens) {
      expect(lines.filter((l) => l.startsWith(`  ${id}["`))).toHaveLength(1);
      for (const to of def.leadsTo) expect(lines).toContain(`  ${id} --> ${to}`);
    }
    const edges = lines.filter((l) => l.includes(' --> '));
    expect(edges).toHaveLength([...screens.values()].reduce((n, d) => n + new Set(d.leadsTo).size, 0));
    expect(mermaid).toContain(`class ${ScreenId.Main} mainMenu;`);
    expect(mermaid).toMatch(/%%.*0 \(back\), 00 \(main menu\) and 98/);
    // Static screens carry their English first line.
    expect(mermaid).toContain(`${ScreenId.Main}["${ScreenId.Main}<br/>M-PESA LOANS`);
    expect(mermaid).toContain(`${ScreenId.PinCreate}["${ScreenId.PinCreate}<br/>Create a 4-digit PIN:"]`);
  });

  it('is deterministic', () => {
    expect(journeyMermaid()).toBe(journeyMermaid());
  });
});
