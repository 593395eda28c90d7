import type { SandboxCredentials } from './types.js';

// How to point our module, or `serve`, at a sandbox: one mapping from its credentials, so tests,
// benchmarks and the embedded sandbox of `serve` cannot drift apart. Plain objects: the sandbox
// does not depend on the module.

/** memberCard()'s `wechatpay` option for this sandbox (public-key or certificate mode). */
export function wechatpayOptions(c: SandboxCredentials) {
  return {
    mchid: c.mchid,
    serial: c.serial,
    privateKey: c.privateKey,
    ...(c.publicKeyId && c.publicKey
      ? { publicKeyId: c.publicKeyId, publicKey: c.publicKey }
      : { certs: { [c.platformCertificateSerial as string]: c.platformCertificate as string } }),
    apiv3Key: c.apiv3Key,
    baseURL: c.baseURL,
  };
}

/** The environment of `wechat-membercard serve` for this sandbox as "the real WeChat Pay". */
export function serveEnvironment(c: SandboxCredentials): Record<string, string> {
  const platform: Record<string, string> =
    c.publicKeyId && c.publicKey
      ? { WECHATPAY_PUBLIC_KEY_ID: c.publicKeyId, WECHATPAY_PUBLIC_KEY: c.publicKey }
      : {
          WECHATPAY_PLATFORM_CERT_SERIAL: c.platformCertificateSerial as string,
          WECHATPAY_PLATFORM_CERT: c.platformCertificate as string,
        };
  return {
    WECHATPAY_MCHID: c.mchid,
    WECHATPAY_SERIAL: c.serial,
    WECHATPAY_PRIVATE_KEY: c.privateKey,
    ...platform,
    WECHATPAY_APIV3_KEY: c.apiv3Key,
    WECHATPAY_BASE_URL: c.baseURL,
    MEMBERCARD_CARD_ID: c.cardId,
    MEMBERCARD_APPID: c.appid,
    WECHAT_MINIPROGRAM_APPID: c.miniProgramAppid,
    WECHAT_MINIPROGRAM_SECRET: c.miniProgramSecret,
    WECHAT_API_BASE_URL: c.baseURL,
  };
}
