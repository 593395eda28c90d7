import type { SandboxCredentials } from './types.js';

// How to point our module, or `serve`, at a sandbox: one mapping from its credentials, so tests,
// benchmarks and the embedded sandbox of `serve` cannot drift apart. Plain objects: the sandbox
// does not depend on the module. In migrating mode both the public key and the certificate are
// given, as a merchant does during WeChat Pay's move to the public key.

/** memberCard()'s `wechatpay` option for this sandbox (public-key, certificate or migrating mode). */
export function wechatpayOptions(c: SandboxCredentials) {
  return {
    mchid: c.mchid,
    serial: c.serial,
    privateKey: c.privateKey,
    ...(c.publicKeyId && c.publicKey ? { publicKeyId: c.publicKeyId, publicKey: c.publicKey } : {}),
    ...(c.platformCertificateSerial && c.platformCertificate
      ? { certs: { [c.platformCertificateSerial]: c.platformCertificate } }
      : {}),
    apiv3Key: c.apiv3Key,
    baseURL: c.baseURL,
  };
}

/** The environment of `wechat-membercard serve` for this sandbox as "the real WeChat Pay". */
export function serveEnvironment(c: SandboxCredentials): Record<string, string> {
  return {
    WECHATPAY_MCHID: c.mchid,
    WECHATPAY_SERIAL: c.serial,
    WECHATPAY_PRIVATE_KEY: c.privateKey,
    ...(c.publicKeyId && c.publicKey
      ? { WECHATPAY_PUBLIC_KEY_ID: c.publicKeyId, WECHATPAY_PUBLIC_KEY: c.publicKey }
      : {}),
    ...(c.platformCertificateSerial && c.platformCertificate
      ? { WECHATPAY_PLATFORM_CERT_SERIAL: c.platformCertificateSerial, WECHATPAY_PLATFORM_CERT: c.platformCertificate }
      : {}),
    WECHATPAY_APIV3_KEY: c.apiv3Key,
    WECHATPAY_BASE_URL: c.baseURL,
    MEMBERCARD_CARD_ID: c.cardId,
    MEMBERCARD_APPID: c.appid,
    WECHAT_MINIPROGRAM_APPID: c.miniProgramAppid,
    WECHAT_MINIPROGRAM_SECRET: c.miniProgramSecret,
    WECHAT_API_BASE_URL: c.baseURL,
  };
}
