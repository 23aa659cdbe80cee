// litesvm-rpc: a test chain for the central server. It serves the subset of
// the Solana JSON-RPC API that solana-go's rpc client uses, backed by LiteSVM
// (the real Agave runtime, in process, no validator).
//
//   node server.js [--port N] [--finality-depth N]      (or PORT, FINALITY_DEPTH)
//
// Port 0 picks a free port; the chosen address is printed on stdout as
//   LISTENING 127.0.0.1:PORT
//
// The chain model, kept deliberately simple and deterministic:
// - Blocks are produced only when something lands (one transaction or
//   airdrop per block) or when a test calls cyxwiz_advanceBlocks. Every block
//   gets a fresh blockhash. Slot = block height + SLOT_OFFSET, so code that
//   mixes up slots and block heights is caught.
// - A blockhash issued at height h is valid for blocks up to h + 150
//   (lastValidBlockHeight); older ones are refused (Blockhash not found).
// - A landed transaction is "confirmed" at once and "finalized" once
//   finality-depth (default 32) more blocks exist. Commitment "finalized"
//   on getBlockHeight/getSlot/getLatestBlockhash/getTransaction sees the chain
//   as of finality-depth blocks ago; "processed" and "confirmed" see the tip.
//   Account state (getBalance, getAccountInfo) is always the tip.
// - sendTransaction with the same bytes twice returns the same signature and
//   executes once. With preflight (the default), a transaction that would
//   fail is refused with error -32002 and does not land; with skipPreflight a
//   transaction that fails in execution lands with meta.err set.
// Test-only methods (prefix cyxwiz_):
//   cyxwiz_advanceBlocks [n]          produce n empty blocks
//   cyxwiz_setDropTransactions [bool] accept sendTransaction but never land
//                                     (a dropped transaction)
//   cyxwiz_setFinalityDepth [n]
import http from "node:http";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { LiteSVM, FailedTransactionMetadata } = require("litesvm");
const { getBase58Codec, getTransactionDecoder, address } = require("@solana/kit");

const SLOT_OFFSET = 100;
const MAX_AGE = 150; // blocks a blockhash stays valid
const LAMPORTS_PER_SIGNATURE = 5000;
const b58 = getBase58Codec();
const txDecoder = getTransactionDecoder();

// ---- arguments

function arg(name, envName, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return Number(process.argv[i + 1]);
  if (process.env[envName] !== undefined && process.env[envName] !== "") return Number(process.env[envName]);
  return dflt;
}
const port = arg("port", "PORT", 0);
let finalityDepth = arg("finality-depth", "FINALITY_DEPTH", 32);

// ---- chain state

const svm = new LiteSVM().withBlockhashCheck(false); // the server checks blockhash age itself
let height = 0; // the tip's block height
const blocks = [{ blockhash: svm.latestBlockhash(), time: now() }]; // by height
const blockhashHeight = new Map([[blocks[0].blockhash, 0]]);
const txs = new Map(); // signature (base58) -> landed transaction record
let dropTransactions = false;

function now() {
  return Math.floor(Date.now() / 1000);
}

function advance(n) {
  for (let i = 0; i < n; i++) {
    svm.expireBlockhash();
    height++;
    const blockhash = svm.latestBlockhash();
    blocks.push({ blockhash, time: now() });
    blockhashHeight.set(blockhash, height);
  }
  svm.warpToSlot(BigInt(height + SLOT_OFFSET));
}

function viewHeight(commitment) {
  return commitment === "finalized" ? Math.max(0, height - finalityDepth) : height;
}

function blockhashUsable(blockhash) {
  const h = blockhashHeight.get(blockhash);
  return h !== undefined && height + 1 <= h + MAX_AGE;
}

// ---- wire format (legacy and v0 messages)

function readShortVec(buf, pos) {
  let len = 0;
  for (let shift = 0; ; shift += 7) {
    const b = buf[pos.i++];
    len |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return len;
  }
}

function parseTransaction(bytes) {
  const pos = { i: 0 };
  const nsig = readShortVec(bytes, pos);
  const signatures = [];
  for (let k = 0; k < nsig; k++, pos.i += 64) signatures.push(b58.decode(bytes.subarray(pos.i, pos.i + 64)));
  const message = bytes.subarray(pos.i);
  let version = "legacy";
  if (bytes[pos.i] & 0x80) version = bytes[pos.i++] & 0x7f;
  const header = {
    numRequiredSignatures: bytes[pos.i++],
    numReadonlySignedAccounts: bytes[pos.i++],
    numReadonlyUnsignedAccounts: bytes[pos.i++],
  };
  const accountKeys = [];
  for (let n = readShortVec(bytes, pos), k = 0; k < n; k++, pos.i += 32) accountKeys.push(b58.decode(bytes.subarray(pos.i, pos.i + 32)));
  const recentBlockhash = b58.decode(bytes.subarray(pos.i, pos.i + 32));
  pos.i += 32;
  const instructions = [];
  for (let n = readShortVec(bytes, pos), k = 0; k < n; k++) {
    const programIdIndex = bytes[pos.i++];
    const nacc = readShortVec(bytes, pos);
    const accounts = Array.from(bytes.subarray(pos.i, pos.i + nacc));
    pos.i += nacc;
    const dlen = readShortVec(bytes, pos);
    const data = bytes.subarray(pos.i, pos.i + dlen);
    pos.i += dlen;
    instructions.push({ programIdIndex, accounts, data });
  }
  const addressTableLookups = [];
  if (version !== "legacy") {
    for (let n = readShortVec(bytes, pos), k = 0; k < n; k++) {
      const accountKey = b58.decode(bytes.subarray(pos.i, pos.i + 32));
      pos.i += 32;
      const wl = readShortVec(bytes, pos);
      const writableIndexes = Array.from(bytes.subarray(pos.i, pos.i + wl));
      pos.i += wl;
      const rl = readShortVec(bytes, pos);
      const readonlyIndexes = Array.from(bytes.subarray(pos.i, pos.i + rl));
      pos.i += rl;
      addressTableLookups.push({ accountKey, writableIndexes, readonlyIndexes });
    }
  }
  if (pos.i > bytes.length) throw new RpcError(-32602, "invalid transaction: truncated");
  return { signatures, message, version, header, accountKeys, recentBlockhash, instructions, addressTableLookups };
}

// ---- errors in the RPC's JSON shape

const TX_ERRORS = ["AccountInUse", "AccountLoadedTwice", "AccountNotFound", "ProgramAccountNotFound", "InsufficientFundsForFee",
  "InvalidAccountForFee", "AlreadyProcessed", "BlockhashNotFound", "CallChainTooDeep", "MissingSignatureForFee",
  "InvalidAccountIndex", "SignatureFailure", "InvalidProgramForExecution", "SanitizeFailure", "ClusterMaintenance",
  "AccountBorrowOutstanding", "WouldExceedMaxBlockCostLimit", "UnsupportedVersion", "InvalidWritableAccount",
  "WouldExceedMaxAccountCostLimit", "WouldExceedAccountDataBlockLimit", "TooManyAccountLocks", "AddressLookupTableNotFound",
  "InvalidAddressLookupTableOwner", "InvalidAddressLookupTableData", "InvalidAddressLookupTableIndex",
  "InvalidRentPayingAccount", "WouldExceedMaxVoteCostLimit", "WouldExceedAccountDataTotalLimit",
  "MaxLoadedAccountsDataSizeExceeded", "ResanitizationNeeded", "InvalidLoadedAccountsDataSizeLimit",
  "UnbalancedTransaction", "ProgramCacheHitMaxLimit", "CommitCancelled"];
const IX_ERRORS = ["GenericError", "InvalidArgument", "InvalidInstructionData", "InvalidAccountData", "AccountDataTooSmall",
  "InsufficientFunds", "IncorrectProgramId", "MissingRequiredSignature", "AccountAlreadyInitialized", "UninitializedAccount",
  "UnbalancedInstruction", "ModifiedProgramId", "ExternalAccountLamportSpend", "ExternalAccountDataModified",
  "ReadonlyLamportChange", "ReadonlyDataModified", "DuplicateAccountIndex", "ExecutableModified", "RentEpochModified",
  "NotEnoughAccountKeys", "AccountDataSizeChanged", "AccountNotExecutable", "AccountBorrowFailed",
  "AccountBorrowOutstanding", "DuplicateAccountOutOfSync", "InvalidError", "ExecutableDataModified",
  "ExecutableLamportChange", "ExecutableAccountNotRentExempt", "UnsupportedProgramId", "CallDepth", "MissingAccount",
  "ReentrancyNotAllowed", "MaxSeedLengthExceeded", "InvalidSeeds", "InvalidRealloc", "ComputationalBudgetExceeded",
  "PrivilegeEscalation", "ProgramEnvironmentSetupFailure", "ProgramFailedToComplete", "ProgramFailedToCompile",
  "Immutable", "IncorrectAuthority", "AccountNotRentExempt", "InvalidAccountOwner", "ArithmeticOverflow",
  "UnsupportedSysvar", "IllegalOwner", "MaxAccountsDataAllocationsExceeded", "MaxAccountsExceeded",
  "MaxInstructionTraceLengthExceeded", "BuiltinProgramsMustConsumeComputeUnits", "BorshIoError"];

function txErrorJSON(e) {
  if (typeof e === "number") return TX_ERRORS[e] ?? `TransactionError(${e})`;
  const name = e.constructor?.name ?? "";
  if (name.endsWith("InstructionError")) {
    const ie = e.err();
    let inner;
    if (typeof ie === "number") inner = IX_ERRORS[ie] ?? `InstructionError(${ie})`;
    else if ("code" in ie) inner = { Custom: ie.code };
    else inner = { BorshIoError: ie.msg ?? "" };
    return { InstructionError: [e.index, inner] };
  }
  if (name.endsWith("DuplicateInstruction")) return { DuplicateInstruction: e.index };
  if (name.endsWith("InsufficientFundsForRent")) return { InsufficientFundsForRent: { account_index: e.accountIndex } };
  if (name.endsWith("ProgramExecutionTemporarilyRestricted")) return { ProgramExecutionTemporarilyRestricted: { account_index: e.accountIndex } };
  return String(e);
}

// Errors that are recorded on chain (fee charged, meta.err set) rather than
// dropping the transaction before execution.
function landsOnFailure(errJSON) {
  return typeof errJSON === "object";
}

class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

function simulationFailed(errJSON, logs) {
  const text = typeof errJSON === "string" ? errJSON : JSON.stringify(errJSON);
  return new RpcError(-32002, `Transaction simulation failed: ${text}`, {
    err: errJSON, logs, accounts: null, unitsConsumed: 0, returnData: null,
  });
}

// ---- methods

function ctx(commitment) {
  return { context: { slot: viewHeight(commitment) + SLOT_OFFSET, apiVersion: "2.2.0" } };
}

function balanceOf(addr) {
  const b = svm.getBalance(address(addr));
  return b === null ? 0n : BigInt(b);
}

function decodeParam(data, encoding) {
  if (typeof data !== "string") throw new RpcError(-32602, "invalid params: expected an encoded transaction string");
  if (encoding === "base64") return new Uint8Array(Buffer.from(data, "base64"));
  if (encoding === undefined || encoding === "base58") return new Uint8Array(b58.encode(data));
  throw new RpcError(-32602, `invalid params: unsupported encoding ${encoding}`);
}

function sendTransaction([data, opts = {}]) {
  const bytes = decodeParam(data, opts.encoding);
  const p = parseTransaction(bytes);
  const signature = p.signatures[0];
  if (!signature) throw new RpcError(-32602, "invalid transaction: no signatures");
  if (txs.has(signature)) return signature; // the same bytes again: already landed
  if (!blockhashUsable(p.recentBlockhash)) {
    if (opts.skipPreflight) return signature; // accepted, then dropped by the cluster
    throw simulationFailed("BlockhashNotFound", []);
  }
  let tx;
  try {
    tx = txDecoder.decode(bytes);
  } catch (e) {
    throw new RpcError(-32602, `invalid transaction: ${e.message}`);
  }
  if (!opts.skipPreflight) {
    let sim;
    try {
      sim = svm.simulateTransaction(tx);
    } catch (e) {
      throw new RpcError(-32003, `Transaction signature verification failure: ${e.message}`);
    }
    if (sim instanceof FailedTransactionMetadata) throw simulationFailed(txErrorJSON(sim.err()), sim.meta().logs());
  }
  if (dropTransactions) return signature;
  const pre = p.accountKeys.map(balanceOf);
  let res;
  try {
    res = svm.sendTransaction(tx);
  } catch (e) {
    throw new RpcError(-32003, `Transaction signature verification failure: ${e.message}`);
  }
  const failed = res instanceof FailedTransactionMetadata;
  const err = failed ? txErrorJSON(res.err()) : null;
  if (failed && !landsOnFailure(err)) return signature; // dropped before execution
  const meta = failed ? res.meta() : res;
  const post = p.accountKeys.map(balanceOf);
  advance(1);
  txs.set(signature, {
    height, time: blocks[height].time, bytes, parsed: p, err, pre, post,
    fee: BigInt(LAMPORTS_PER_SIGNATURE * p.header.numRequiredSignatures),
    logs: meta.logs(), unitsConsumed: meta.computeUnitsConsumed(),
    inner: meta.innerInstructions().map((list, index) => ({
      index,
      instructions: list.map((ii) => {
        const ci = ii.instruction();
        return { programIdIndex: ci.programIdIndex(), accounts: Array.from(ci.accounts()), data: b58.decode(ci.data()), stackHeight: ii.stackHeight() };
      }),
    })).filter((x) => x.instructions.length > 0),
  });
  return signature;
}

function requestAirdrop([addr, lamports]) {
  const res = svm.airdrop(address(addr), BigInt(lamports));
  if (res === null || res instanceof FailedTransactionMetadata) {
    throw new RpcError(-32603, `airdrop failed: ${res === null ? "no airdrop account" : JSON.stringify(txErrorJSON(res.err()))}`);
  }
  advance(1);
  const signature = b58.decode(res.signature());
  // Airdrops are recorded for getSignatureStatuses only; getTransaction returns null for them.
  txs.set(signature, { height, time: blocks[height].time, err: null, airdrop: true });
  return signature;
}

function statusOf(signature) {
  const t = txs.get(signature);
  if (!t) return null;
  const depth = height - t.height;
  const finalized = depth >= finalityDepth;
  return {
    slot: t.height + SLOT_OFFSET,
    confirmations: finalized ? null : depth,
    err: t.err,
    status: t.err === null ? { Ok: null } : { Err: t.err },
    confirmationStatus: finalized ? "finalized" : "confirmed",
  };
}

function getTransaction([signature, opts = {}]) {
  if (typeof opts === "string") opts = { encoding: opts };
  const commitment = opts.commitment ?? "finalized";
  if (commitment === "processed") throw new RpcError(-32602, "Method does not support commitment below `confirmed`");
  const t = txs.get(signature);
  if (!t || t.airdrop || t.height > viewHeight(commitment)) return null;
  const p = t.parsed;
  if (p.version !== "legacy" && opts.maxSupportedTransactionVersion === undefined) {
    throw new RpcError(-32015, `Transaction version (${p.version}) is not supported by the requesting client. Please try the request again with the following configuration parameter: "maxSupportedTransactionVersion": 0`);
  }
  let transaction;
  const encoding = opts.encoding ?? "json";
  if (encoding === "base64") transaction = [Buffer.from(t.bytes).toString("base64"), "base64"];
  else if (encoding === "base58") transaction = [b58.decode(t.bytes), "base58"];
  else if (encoding === "json" || encoding === "jsonParsed") {
    const message = {
      accountKeys: p.accountKeys,
      header: p.header,
      recentBlockhash: p.recentBlockhash,
      instructions: p.instructions.map((ix) => ({ programIdIndex: ix.programIdIndex, accounts: ix.accounts, data: b58.decode(ix.data), stackHeight: null })),
    };
    if (p.version !== "legacy") message.addressTableLookups = p.addressTableLookups;
    transaction = { signatures: p.signatures, message };
  } else throw new RpcError(-32602, `invalid params: unsupported encoding ${encoding}`);
  return {
    slot: t.height + SLOT_OFFSET,
    blockTime: t.time,
    version: p.version,
    transaction,
    meta: {
      err: t.err,
      status: t.err === null ? { Ok: null } : { Err: t.err },
      fee: t.fee,
      preBalances: t.pre,
      postBalances: t.post,
      innerInstructions: t.inner,
      logMessages: t.logs,
      preTokenBalances: [],
      postTokenBalances: [],
      rewards: [],
      loadedAddresses: { writable: [], readonly: [] },
      computeUnitsConsumed: t.unitsConsumed,
    },
  };
}

function commitmentOf(opts) {
  return opts && typeof opts === "object" ? opts.commitment : undefined;
}

const methods = {
  getHealth: () => "ok",
  getVersion: () => ({ "solana-core": "2.2.0-litesvm-1.5.0", "feature-set": 0 }),
  getSlot: ([opts] = []) => viewHeight(commitmentOf(opts)) + SLOT_OFFSET,
  getBlockHeight: ([opts] = []) => viewHeight(commitmentOf(opts)),
  getLatestBlockhash: ([opts] = []) => {
    const c = commitmentOf(opts);
    const h = viewHeight(c);
    return { ...ctx(c), value: { blockhash: blocks[h].blockhash, lastValidBlockHeight: h + MAX_AGE } };
  },
  isBlockhashValid: ([blockhash, opts]) => ({ ...ctx(commitmentOf(opts)), value: blockhashUsable(blockhash) }),
  getBalance: ([addr, opts]) => ({ ...ctx(commitmentOf(opts)), value: balanceOf(addr) }),
  getAccountInfo: ([addr, opts = {}]) => {
    const acc = svm.getAccount(address(addr));
    if (!acc.exists) return { ...ctx(opts.commitment), value: null };
    const data = opts.encoding === "base58" ? [b58.decode(acc.data), "base58"] : [Buffer.from(acc.data).toString("base64"), "base64"];
    return {
      ...ctx(opts.commitment),
      value: { data, executable: acc.executable, lamports: BigInt(acc.lamports), owner: acc.programAddress, rentEpoch: 0, space: Number(acc.space) },
    };
  },
  getMinimumBalanceForRentExemption: ([size]) => svm.minimumBalanceForRentExemption(BigInt(size)),
  getFeeForMessage: ([msg, opts]) => {
    const bytes = new Uint8Array(Buffer.from(msg, "base64"));
    const nsig = bytes[0] & 0x80 ? bytes[1] : bytes[0];
    const blockhashAt = 1 + (bytes[0] & 0x80 ? 1 : 0) + 2; // header done; keys follow
    const pos = { i: blockhashAt };
    const nkeys = readShortVec(bytes, pos);
    const blockhash = b58.decode(bytes.subarray(pos.i + 32 * nkeys, pos.i + 32 * nkeys + 32));
    return { ...ctx(commitmentOf(opts)), value: blockhashUsable(blockhash) ? LAMPORTS_PER_SIGNATURE * nsig : null };
  },
  sendTransaction,
  requestAirdrop,
  getSignatureStatuses: ([signatures]) => ({ ...ctx(), value: signatures.map(statusOf) }),
  getTransaction,
  cyxwiz_advanceBlocks: ([n = 1] = []) => {
    advance(Number(n));
    return { blockHeight: height, slot: height + SLOT_OFFSET };
  },
  cyxwiz_setDropTransactions: ([on]) => {
    dropTransactions = Boolean(on);
    return dropTransactions;
  },
  cyxwiz_setFinalityDepth: ([n]) => {
    finalityDepth = Number(n);
    return finalityDepth;
  },
};

// ---- JSON-RPC 2.0 over HTTP

// JSON with u64 numbers: BigInts are written as bare integers.
function stringify(value) {
  return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `__u64__${v}` : v)).replace(/"__u64__(\d+)"/g, "$1");
}

function handle(req) {
  if (!req || req.jsonrpc !== "2.0" || typeof req.method !== "string") {
    return { jsonrpc: "2.0", id: req?.id ?? null, error: { code: -32600, message: "Invalid request" } };
  }
  const fn = methods[req.method];
  if (!fn) return { jsonrpc: "2.0", id: req.id, error: { code: -32601, message: "Method not found" } };
  try {
    return { jsonrpc: "2.0", id: req.id, result: fn(Array.isArray(req.params) ? req.params : []) };
  } catch (e) {
    if (e instanceof RpcError) {
      const error = { code: e.code, message: e.message };
      if (e.data !== undefined) error.data = e.data;
      return { jsonrpc: "2.0", id: req.id, error };
    }
    return { jsonrpc: "2.0", id: req.id, error: { code: -32602, message: `Invalid params: ${e.message}` } };
  }
}

const server = http.createServer((req, res) => {
  if (req.method !== "POST") {
    res.writeHead(req.url === "/health" ? 200 : 405, { "content-type": "text/plain" });
    res.end(req.url === "/health" ? "ok" : "POST JSON-RPC requests\n");
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      body = undefined;
    }
    const out = body === undefined
      ? { jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }
      : Array.isArray(body) ? body.map(handle) : handle(body);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(stringify(out));
  });
});

server.keepAliveTimeout = 60_000; // Go clients keep idle connections longer than Node's 5s default
server.headersTimeout = 61_000;
server.listen(port, "127.0.0.1", () => {
  const a = server.address();
  process.stdout.write(`LISTENING ${a.address}:${a.port}\n`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
