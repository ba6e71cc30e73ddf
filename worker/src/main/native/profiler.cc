// PyTorch's Kineto profiler, started and stopped from Java (org.diffusionbot.worker.engine.cuda.KernelProfiler):
// what Python's torch.profiler.profile(activities=[CPU, CUDA], record_shapes=True) records, for the DJL calls
// and our own ops of the calling thread, saved as a Chrome trace (chrome://tracing, Perfetto,
// scripts/gpu/profile_table.py). Ranges (user annotations, like torch.profiler.record_function) mark the calls
// to attribute. Part of libsd_native_ops.so (build.sh); the API is libtorch's torch/csrc/autograd/profiler_kineto.h.
#include <jni.h>

#include <ATen/record_function.h>
#include <torch/csrc/autograd/profiler_kineto.h>

#include <exception>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace prof = torch::profiler::impl;

void throw_java(JNIEnv* env, const std::string& what) {
  jclass cls = env->FindClass("java/lang/IllegalStateException");
  if (cls != nullptr) env->ThrowNew(cls, what.c_str());
}

std::string java_string(JNIEnv* env, jstring s) {
  const char* c = env->GetStringUTFChars(s, nullptr);
  std::string out(c == nullptr ? "" : c);
  if (c != nullptr) env->ReleaseStringUTFChars(s, c);
  return out;
}

// An open range: the name must outlive the RecordFunction, which keeps a view of it.
struct Range {
  std::string name;
  at::RecordFunction record{at::RecordScope::USER_SCOPE};
};
thread_local std::vector<std::unique_ptr<Range>> open_ranges;

}  // namespace

extern "C" {

// Starts recording CPU ops (with input shapes) and CUDA kernels, memory copies and runtime calls of this thread.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_KernelProfiler_begin(JNIEnv* env, jclass) {
  try {
    prof::ProfilerConfig config(prof::ProfilerState::KINETO, /*report_input_shapes=*/true, /*profile_memory=*/false,
                                /*with_stack=*/false, /*with_flops=*/false, /*with_modules=*/false);
    const std::set<prof::ActivityType> activities{prof::ActivityType::CPU, prof::ActivityType::CUDA};
    torch::autograd::profiler::prepareProfiler(config, activities);
    torch::autograd::profiler::enableProfiler(config, activities);
  } catch (const std::exception& e) {
    throw_java(env, std::string("profiler start: ") + e.what());
  }
}

// Stops recording and writes the Chrome trace (JSON) to path.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_KernelProfiler_end(JNIEnv* env, jclass,
                                                                                    jstring path) {
  try {
    open_ranges.clear();  // ends ranges left open
    auto result = torch::autograd::profiler::disableProfiler();
    if (!result) throw std::runtime_error("no profiler result (was it started on this thread?)");
    result->save(java_string(env, path));
  } catch (const std::exception& e) {
    throw_java(env, std::string("profiler stop: ") + e.what());
  }
}

// Opens a named range (a user annotation in the trace) on this thread; ranges nest.
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_KernelProfiler_push(JNIEnv* env, jclass,
                                                                                         jstring name) {
  try {
    auto r = std::make_unique<Range>();
    r->name = java_string(env, name);
    if (r->record.isActive()) r->record.before(std::string_view(r->name));
    open_ranges.push_back(std::move(r));
  } catch (const std::exception& e) {
    throw_java(env, std::string("profiler range: ") + e.what());
  }
}

// Closes the innermost open range of this thread (none open: nothing happens).
JNIEXPORT void JNICALL Java_org_diffusionbot_worker_engine_cuda_KernelProfiler_pop(JNIEnv* env, jclass) {
  try {
    if (!open_ranges.empty()) open_ranges.pop_back();  // ~RecordFunction runs the end callbacks
  } catch (const std::exception& e) {
    throw_java(env, std::string("profiler range: ") + e.what());
  }
}

}  // extern "C"
