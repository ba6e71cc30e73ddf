// The SD_PDL switch of launch.cuh's sd_launch (programmatic dependent launch of our kernels): its one state, set
// from Java (NativeOps.PDL through sd_native_ops.cc's setPdl) and read by every launch.
#include "launch.cuh"

extern "C" void sd_set_pdl(bool on) {
  int cur = sd_pdl::state().load();
  while (cur != -1 && !sd_pdl::state().compare_exchange_weak(cur, on ? 1 : 0)) {
  }
}

extern "C" int sd_pdl_state() { return sd_pdl::state().load(); }
