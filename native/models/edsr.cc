#include "models/edsr.h"

#include "models/spec_reader.h"

namespace kds {

EdsrImpl::EdsrImpl(const EdsrOptions& options) : options_(options) {
  const int64_t f = options.nFeats;
  subMean_ = register_module("sub_mean", meanShift(options.rgbRange, -1));
  head_ = register_module("head", torch::nn::Sequential(defaultConv(3, f, 3)));
  body_ = register_module("body", torch::nn::ModuleList());
  for (int i = 0; i < options.nResblocks; ++i) body_->push_back(ResBlock(f, 3, options.resScale));
  body_->push_back(defaultConv(f, f, 3));
  tail_ = register_module("tail", torch::nn::Sequential(Upsampler(options.scale, f), defaultConv(f, 3, 3)));
  addMean_ = register_module("add_mean", meanShift(options.rgbRange, +1));
}

SrOutput EdsrImpl::forward(const torch::Tensor& input) {
  const int n = options_.nResblocks;
  const int end1 = n / 3, end2 = 2 * n / 3;
  SrOutput out;
  auto x = head_->forward(subMean_->forward(input));
  out.features.push_back(x);
  auto res = x;
  const int taps[2] = {end1, end2};
  int next = 0;
  for (int i = 0; i < n; ++i) {
    while (next < 2 && taps[next] == i) out.features.push_back(res), ++next;  // a group ends before block i
    res = body_[i]->as<ResBlock>()->forward(res);
  }
  while (next < 2) out.features.push_back(res), ++next;
  res = body_[n]->as<torch::nn::Conv2d>()->forward(res) + x;
  out.features.push_back(res);
  out.output = addMean_->forward(tail_->forward(res));
  return out;
}

int64_t EdsrImpl::multiplyAdds(int64_t h, int64_t w) {
  const int64_t s = options_.scale;
  auto& upsampler = *tail_->ptr<UpsamplerImpl>(0);
  const int64_t lrWeights = convWeights(*subMean_) + convWeights(*head_) + convWeights(*body_);
  const int64_t hrWeights = convWeights(*tail_) - convWeights(upsampler) + convWeights(*addMean_);
  return lrWeights * h * w + upsamplerMacs(upsampler, h, w) + hrWeights * s * h * s * w;
}

std::vector<std::vector<int64_t>> EdsrImpl::featureShapes(int64_t h, int64_t w) const {
  return std::vector<std::vector<int64_t>>(4, {options_.nFeats, h, w});
}

std::string EdsrModel::canonicalKey(const std::string& key) const {
  const int n = net_->options().nResblocks;
  const int groupStart[3] = {0, n / 3, 2 * n / 3};
  const int groupSize[3] = {n / 3, 2 * n / 3 - n / 3, n - 2 * n / 3 + 1};  // body3 also holds the final conv
  for (int g = 0; g < 3; ++g) {
    auto k = indexedKey(key, "body" + std::to_string(g + 1) + ".");
    // An index beyond the group means a file of another depth: keep the key, so it is reported as unexpected.
    if (k && k->first < groupSize[g]) return "body." + std::to_string(groupStart[g] + k->first) + "." + k->second;
  }
  return key;
}

ModelPtr createEdsr(const ModelSpec& spec) {
  SpecReader read(spec);
  EdsrOptions options;
  options.scale = read.scale();
  options.nResblocks = read.integer("nResblocks");
  options.nFeats = read.integer("nFeats");
  options.resScale = read.positive("resScale");
  options.rgbRange = read.positive("rgbRange");
  read.finish();
  return std::make_shared<EdsrModel>(options);
}

}  // namespace kds
