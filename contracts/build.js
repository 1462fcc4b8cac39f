// Compiles the test contracts with the npm `solc` package into xbtcpay/chain/artifacts/<Name>.json
// ({contractName, abi, bytecode, compiler}). Run with `npm run build:contracts`; the artifacts
// are committed so that running xbtcpay needs no compiler.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const root = path.resolve(__dirname, "..");
const outDir = process.env.ARTIFACTS_DIR || path.join(root, "xbtcpay", "chain", "artifacts");
const sources = [
  "TestZeroXBitcoin.sol",
  "EthForwarder.sol",
  "SweepDelegate.sol",
  "SweepBatch.sol",
  "MockAggregator.sol",
  "MockPairV2.sol",
  "MockPoolV3.sol",
  "TestStablecoins.sol",
];

const input = {
  language: "Solidity",
  sources: Object.fromEntries(
    sources.map((file) => [file, { content: fs.readFileSync(path.join(__dirname, file), "utf8") }])
  ),
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const message of output.errors || []) {
  console.error(message.formattedMessage);
}
if (errors.length) {
  process.exit(1);
}

fs.mkdirSync(outDir, { recursive: true });
for (const file of sources) {
  for (const [name, contract] of Object.entries(output.contracts[file])) {
    const artifact = {
      contractName: name,
      abi: contract.abi,
      bytecode: "0x" + contract.evm.bytecode.object,
      compiler: "solc " + solc.version(),
    };
    const target = path.join(outDir, name + ".json");
    fs.writeFileSync(target, JSON.stringify(artifact, null, 2) + "\n");
    console.log("wrote " + path.relative(root, target));
  }
}
