import type { IncomingMessage } from 'node:http';

// The control API hands out the sandbox's credentials and plays its users, so only a program on
// this machine may call it. The loopback address alone is not enough: a web page open in the
// developer's browser can send requests to 127.0.0.1 too (a form post needs no CORS pre-flight),
// and DNS rebinding can point a site's own name at 127.0.0.1 and read the answers. So, besides the
// address, a control request must name a loopback host, carry no Origin (browsers send one with
// every cross-site request; curl, scripts and tests send none) and send JSON (a form cannot).

/** The control API answers only clients on this machine. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** A Host header that names this machine: localhost, 127.x.x.x or [::1], with any port. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = /^\[([^\]]+)\](?::\d+)?$/.exec(host)?.[1] ?? host.replace(/:\d+$/, '');
  return name.toLowerCase() === 'localhost' || name === '::1' || isLoopback(name);
}

/** Why a control request is refused (403), or undefined when it may go on. */
export function controlRefusal(req: IncomingMessage): string | undefined {
  if (!isLoopback(req.socket.remoteAddress)) return 'the control API answers loopback clients only';
  if (!isLoopbackHost(req.headers.host)) return 'the control API answers requests for a loopback Host only';
  if (req.headers.origin !== undefined)
    return 'the control API answers no browser requests (an Origin header was sent)';
  const length = req.headers['content-length'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (hasBody && type !== 'application/json') return 'the control API takes application/json bodies only';
  return undefined;
}
