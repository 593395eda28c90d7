import { isIPv4, isIPv6 } from 'node:net';
import type { Context } from 'koa';

/**
 * Who is calling, for per-client limits: Koa's ctx.ip, which is the socket's address, or the
 * client's address from X-Forwarded-For only when the host trusts its proxy (`app.proxy = true`;
 * serve: TRUST_PROXY=1). So the host decides, once, whether that header may be believed.
 *
 * One person controls a whole IPv6 /64 (a home or a phone gets one), so an IPv6 address counts by
 * its first 64 bits; an IPv4 address written as IPv6 (::ffff:1.2.3.4) counts as that IPv4 address.
 */
export function clientAddress(ctx: Context): string {
  return addressKey(ctx.ip);
}

/** The part of an address a limit counts by (see clientAddress). */
export function addressKey(ip: string): string {
  const address = ip.split('%')[0] ?? '';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)?.[1];
  if (mapped && isIPv4(mapped)) return mapped;
  if (isIPv4(address)) return address;
  if (isIPv6(address)) return `${expand(address).slice(0, 4).join(':')}::/64`;
  // No socket address (the client went away): one shared key, never a free pass.
  return 'unknown';
}

/** The eight 16-bit groups of an IPv6 address, in lower-case hex without leading zeros. */
function expand(address: string): string[] {
  const [head = '', tail] = address.toLowerCase().split('::');
  const groups = (part: string): string[] => (part ? part.split(':') : []);
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  // An embedded IPv4 tail (::1.2.3.4) is two groups.
  const last = right.length ? right : left;
  const v4 = last.at(-1);
  if (v4 && isIPv4(v4)) {
    const [a = 0, b = 0, c = 0, d = 0] = v4.split('.').map(Number);
    last.splice(-1, 1, ((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
  }
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((g) => Number.parseInt(g, 16).toString(16));
}
