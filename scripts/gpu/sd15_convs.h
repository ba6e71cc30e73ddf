// SD 1.5's 3x3 stride-1 convolutions per UNet call, as diffusers' UNet2DConditionModel builds them, in first-seen
// order with their counts: the shape list of scripts/gpu/probe_fp8_conv.cu (cuDNN) and scripts/gpu/probe_conv_fp8.cu
// (our kernel), included by both. Host code only.
#pragma once

#include <algorithm>
#include <vector>

struct ConvShape {
  int h, cin, cout;
  int resnet = 0, upsampler = 0;  // count per UNet call
  int conv2 = 0;                  // of the resnet count: ResNet conv2s (Cout -> Cout; their bias and residual follow)
  int batch = 16;                 // probe_conv_fp8.cu's extra shapes set their own; probe_fp8_conv.cu uses kBatch
};

std::vector<ConvShape> sd15_convs() {
  const int boc[4] = {320, 640, 1280, 1280};
  const int layers = 2;
  std::vector<ConvShape> list;
  auto add = [&](int h, int cin, int cout, bool up, bool conv2) {
    ConvShape* s = nullptr;
    for (auto& e : list) {
      if (e.h == h && e.cin == cin && e.cout == cout) s = &e;
    }
    if (s == nullptr) {
      list.push_back(ConvShape{h, cin, cout});
      s = &list.back();
    }
    (up ? s->upsampler : s->resnet)++;
    if (conv2) s->conv2++;
  };
  auto resnet = [&](int h, int cin, int cout) {
    add(h, cin, cout, false, false);  // conv1
    add(h, cout, cout, false, true);  // conv2
  };
  int h = 64, prev = boc[0];  // conv_in: 4 -> 320
  for (int i = 0; i < 4; i++) {  // down blocks (the downsamplers' convolutions have stride 2: not here)
    for (int j = 0; j < layers; j++) resnet(h, j == 0 ? prev : boc[i], boc[i]);
    prev = boc[i];
    if (i < 3) h /= 2;
  }
  resnet(h, boc[3], boc[3]);  // mid block
  resnet(h, boc[3], boc[3]);
  const int rev[4] = {boc[3], boc[2], boc[1], boc[0]};
  prev = rev[0];
  for (int i = 0; i < 4; i++) {  // up blocks: conv1 reads the concatenation of the hidden state and a skip
    const int out = rev[i], in = rev[std::min(i + 1, 3)];
    for (int j = 0; j < layers + 1; j++) {
      const int skip = j == layers ? in : out;
      resnet(h, (j == 0 ? prev : out) + skip, out);
    }
    prev = out;
    if (i < 3) {
      h *= 2;
      add(h, out, out, true, false);  // upsampler: nearest x2, then a 3x3 convolution
    }
  }
  return list;
}
