// Ids, secrets and their hashes. Secrets carry 256 random bits and are stored only as SHA-256.
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

function randomChars(n: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  let out = "";
  for (const b of bytes) out += CROCKFORD[b & 31];
  return out;
}

function timeChars(ms: number): string {
  let out = "";
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

/** A ULID-style id: sorts by creation time, so keyset pagination on it is stable. */
export function newId(prefix: string, now = Date.now()): string {
  return `${prefix}_${timeChars(now)}${randomChars(16)}`;
}

export function hex(bytes: ArrayBuffer | Uint8Array): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** 32 random bytes (256 bits) as 64 hex characters. */
const randomHex = (): string => hex(crypto.getRandomValues(new Uint8Array(32)));

/** A random secret behind a prefix that says what kind of secret it is. */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomHex()}`;
}

/** SHA-256 of text (as UTF-8) or of bytes, as 64 hex characters. */
export async function sha256(data: string | Uint8Array): Promise<string> {
  return hex(
    await crypto.subtle.digest(
      "SHA-256",
      (typeof data === "string" ? new TextEncoder().encode(data) : data) as Uint8Array<ArrayBuffer>,
    ),
  );
}

/** Compares two secrets without leaking where they differ through timing. */
export async function secretsEqual(a: string, b: string): Promise<boolean> {
  const [ha, hb] = await Promise.all([sha256(a), sha256(b)]);
  let diff = 0;
  for (let i = 0; i < ha.length; i++) diff |= ha.charCodeAt(i) ^ hb.charCodeAt(i);
  return diff === 0;
}

const hmacKeys = new Map<string, Promise<CryptoKey>>();
const hmacKey = (secret: string) => {
  let key = hmacKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    hmacKeys.set(secret, key);
  }
  return key;
};

/** HMAC-SHA-256 of `message` under `secret`, as 64 hex characters (webhook signatures). */
export async function hmacHex(secret: string, message: string): Promise<string> {
  return hex(await crypto.subtle.sign("HMAC", await hmacKey(secret), new TextEncoder().encode(message)));
}

/** 128 bits of HMAC-SHA-256 of `message` under `secret`, as 32 hex characters. */
async function tag(secret: string, message: string): Promise<string> {
  return (await hmacHex(secret, message)).slice(0, 32);
}

/**
 * A secret this server can recognise by computation alone: 128 random bits, then a tag over
 * them and `subject` (64 hex characters in all). Made-up credentials are refused without
 * touching storage.
 */
export async function signedSecret(signingKey: string, subject: string): Promise<string> {
  const random = hex(crypto.getRandomValues(new Uint8Array(16)));
  return random + (await tag(signingKey, `${subject}:${random}`));
}

/** Whether `secret` was made by signedSecret for `subject` under `signingKey`. */
export async function isSignedFor(signingKey: string, subject: string, secret: string): Promise<boolean> {
  if (!/^[0-9a-f]{64}$/.test(secret)) return false;
  const expected = await tag(signingKey, `${subject}:${secret.slice(0, 32)}`);
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= expected.charCodeAt(i) ^ secret.charCodeAt(32 + i);
  return diff === 0;
}
