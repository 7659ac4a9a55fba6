// The one way both node runners (llama_cpp_runner.mjs, llama_cpp_bench_runner.mjs) load node-llama-cpp from the
// install folder `dir` (tests/llama_cpp/install.sh): CPU only, the prebuilt binary, never a build or a download.
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/** node-llama-cpp's module and a CPU `llama`; `extra` adds getLlama options (e.g. `maxThreads`). */
export async function loadLlamaCpp(dir, extra = {}) {
  const entry = join(dir, "node_modules", "node-llama-cpp", "dist", "index.js");
  const lib = await import(pathToFileURL(entry).href);
  // node-llama-cpp's loadModel checks a tokenize → detokenize round trip (LlamaModel.getWarnings); llama.cpp aborts
  // the process (GGML_ASSERT "Tokenizer not initialized") when asked to tokenize with a vocabulary-less model
  // (`tokenizer.ggml.model` "no_vocab", which llama.cpp loads with `<arch>.vocab_size` placeholder tokens). Skip that
  // check for such models only; evaluation by token ids, all the runners do with them, needs no tokenizer.
  const warnings = lib.LlamaModel.prototype.getWarnings;
  lib.LlamaModel.prototype.getWarnings = function () {
    return this.fileInfo.metadata?.tokenizer?.ggml?.model === "no_vocab" ? [] : warnings.call(this);
  };
  const llama = await lib.getLlama({
    gpu: false,
    build: "never",
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    logLevel: lib.LlamaLogLevel.error,
    ...extra,
  });
  return { lib, llama };
}
