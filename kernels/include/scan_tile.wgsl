// Shapes shared by the Mamba-1 scan kernels (selective_scan_chunk, selective_scan_output) and their TypeScript
// half (kernels/selective_scan.ts reads them from kernels/generated/kernels.ts).

const SCAN_WG: u32 = 64u; // channels d per workgroup, one thread each
const SCAN_TILE_TOKENS: u32 = 16u; // tokens per staged tile of B / C rows
const SCAN_MAX_STATES: u32 = 16u; // states n a thread keeps in registers per pass (NB ≤ this)
const WG: u32 = SCAN_WG;
const TT: u32 = SCAN_TILE_TOKENS;
const NBMAX: u32 = SCAN_MAX_STATES;
