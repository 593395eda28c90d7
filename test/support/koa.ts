// The Koa a test host runs on. Most mini-program back ends still run Koa 2, so the member-card
// integration tests run twice (scripts/test.mjs): on Koa 3 (`koa`) and on Koa 2 (`koa2`, the same
// package installed under an npm alias), chosen by MEMBERCARD_TEST_KOA.
import { createRequire } from 'node:module';
import Koa3 from 'koa';
import Koa2 from 'koa2';

const require = createRequire(import.meta.url);

export const KOA_MAJOR: 2 | 3 = process.env.MEMBERCARD_TEST_KOA === '2' ? 2 : 3;

/** The Koa class of this run, typed as Koa 3's (the API a host's middleware sees is the same). */
export const HostKoa: typeof Koa3 = KOA_MAJOR === 2 ? Koa2 : Koa3;

/** The version of the installed package HostKoa comes from, e.g. "2.16.4". */
export const HOST_KOA_VERSION: string = (
  require(KOA_MAJOR === 2 ? 'koa2/package.json' : 'koa/package.json') as {
    version: string;
  }
).version;
