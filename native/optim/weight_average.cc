#include "optim/weight_average.h"

#include <algorithm>

#include "api/error.h"
#include "core/torch_tensor.h"

namespace kds {

void WeightAverage::configure(double decay) {
  if (!(decay >= 0 && decay < 1)) throw Error(ErrorCode::Argument, "ema decay must be in [0, 1), got " + std::to_string(decay));
  decay_ = decay;
  updates_ = 0;
  average_.clear();
}

void WeightAverage::update(const std::vector<torch::Tensor>& params) {
  if (!enabled()) return;
  torch::NoGradGuard noGrad;
  if (average_.empty()) {
    for (const auto& p : params) average_.push_back(p.detach().clone());
  } else {
    const double d = std::min(decay_, (1.0 + static_cast<double>(updates_)) / (10.0 + static_cast<double>(updates_)));
    std::vector<torch::Tensor> current;
    current.reserve(params.size());
    for (const auto& p : params) current.push_back(p.detach());
    torch::_foreach_lerp_(average_, current, 1.0 - d);  // average += (1 - d) * (p - average)
  }
  ++updates_;
}

void WeightAverage::swapInto(std::vector<torch::Tensor>& params) {
  if (average_.empty()) return;
  if (average_.size() != params.size()) throw Error(ErrorCode::Internal, "ema: the student's parameters changed since the average began");
  for (size_t i = 0; i < params.size(); ++i) {
    torch::Tensor weights = params[i].detach();  // shares storage with the parameter
    params[i].set_data(average_[i]);
    average_[i] = weights;
  }
}

NamedTensors WeightAverage::state() const {
  NamedTensors out;
  if (average_.empty()) return out;
  out.emplace_back("updates", torch::tensor(updates_, torch::kLong));
  out.emplace_back("decay", torch::tensor(decay_, torch::kDouble));
  for (size_t i = 0; i < average_.size(); ++i) out.emplace_back(std::to_string(i), average_[i]);
  return out;
}

WeightAverage::Loaded WeightAverage::check(const NamedTensors& state, const std::vector<torch::Tensor>& params, const std::string& path) {
  Loaded loaded;
  if (state.empty()) return loaded;
  loaded.average.resize(params.size());
  loaded.updates = -1;
  for (const auto& [name, t] : state) {
    if (name == "updates") {
      loaded.updates = t.item<int64_t>();
      continue;
    }
    if (name == "decay") continue;
    size_t i = params.size();
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) i = std::stoul(name);
    if (i >= params.size() || !t.sizes().equals(params[i].sizes()))
      throw Error(ErrorCode::File, "checkpoint '" + path + "': its weight average entry '" + name + "' does not fit the student");
    loaded.average[i] = t.to(params[i].device(), params[i].scalar_type()).clone();
  }
  for (size_t i = 0; i < loaded.average.size(); ++i)
    if (!loaded.average[i].defined()) throw Error(ErrorCode::File, "checkpoint '" + path + "': its weight average lacks parameter " + std::to_string(i));
  if (loaded.updates < 1) throw Error(ErrorCode::File, "checkpoint '" + path + "': its weight average has no update count");
  return loaded;
}

void WeightAverage::adopt(Loaded loaded) {
  if (!enabled()) return;  // a session without EMA ignores a checkpoint's average
  average_ = std::move(loaded.average);  // empty: the checkpoint had none, so the average starts afresh
  updates_ = average_.empty() ? 0 : loaded.updates;
}

void WeightAverage::moveTo(const torch::Device& device) {
  for (auto& t : average_) t = t.to(device);
}

}  // namespace kds
