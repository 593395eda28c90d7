// Pictures of the <member-card> states for the READMEs and the plugin's doc/: the real component,
// rendered against a real back end (test/plugin/screens.ts turns each state into a static HTML page),
// screenshotted by headless Chromium into doc/images/member-card-<state>.png.
//
//   npm run screenshots:plugin        (node --import tsx scripts/plugin-screenshots.mjs)
//
// Needs Chromium (`apt-get install chromium`; or CHROMIUM=/path/to/chrome) and a CJK font (e.g.
// `apt-get install fonts-wqy-microhei`). Not part of the tests: CI needs neither.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { renderScreens, SCREEN_WIDTH } from '../test/plugin/screens.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'doc', 'images');
const CHROMIUM = process.env.CHROMIUM || 'chromium';

const work = mkdtempSync(join(tmpdir(), 'membercard-screens-'));

/** One headless Chromium run with a fresh profile (the flags this machine's Chromium needs). */
function chromium(args) {
  const profile = mkdtempSync(join(work, 'profile-'));
  try {
    return execFileSync(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--hide-scrollbars',
        '--force-device-scale-factor=1',
        `--user-data-dir=${profile}`,
        ...args,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

try {
  const screens = await renderScreens();
  mkdirSync(OUT, { recursive: true });
  for (const screen of screens) {
    const page = join(work, `${screen.name}.html`);
    writeFileSync(page, screen.html);
    const url = pathToFileURL(page).href;
    // First the page's own measure of its height (written into the DOM), then a picture that tall.
    const dom = chromium([`--window-size=${SCREEN_WIDTH},2000`, '--dump-dom', url]);
    const height = Number(/data-height="(\d+)"/.exec(dom)?.[1]);
    if (!height) throw new Error(`${screen.name}: the page did not measure itself`);
    const png = join(OUT, `member-card-${screen.name}.png`);
    chromium([`--window-size=${SCREEN_WIDTH},${height}`, `--screenshot=${png}`, url]);
    console.log(`${relative(ROOT, png)}  ${SCREEN_WIDTH}×${height}  ${screen.title}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(0);
