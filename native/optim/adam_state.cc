#include "optim/adam_state.h"

#include "api/error.h"
#include "api/tensor.h"

namespace kds {

NamedTensors exportAdamState(torch::optim::Adam& adam, const std::vector<torch::Tensor>& params) {
  NamedTensors out;
  auto& state = adam.state();
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = state.find(params[i].unsafeGetTensorImpl());
    if (it == state.end()) continue;
    auto& s = static_cast<torch::optim::AdamParamState&>(*it->second);
    const std::string prefix = std::to_string(i) + ".";
    out.emplace_back(prefix + "step", torch::tensor(s.step(), torch::kInt64));
    out.emplace_back(prefix + "exp_avg", s.exp_avg());
    out.emplace_back(prefix + "exp_avg_sq", s.exp_avg_sq());
  }
  return out;
}

void importAdamState(torch::optim::Adam& adam, const std::vector<torch::Tensor>& params,
                     const std::map<std::string, torch::Tensor>& state, const std::string& path) {
  std::vector<std::unique_ptr<torch::optim::AdamParamState>> restored(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string prefix = std::to_string(i) + ".";
    auto step = state.find(prefix + "step");
    if (step == state.end()) continue;  // this parameter had no state yet
    auto avg = state.find(prefix + "exp_avg"), sq = state.find(prefix + "exp_avg_sq");
    if (avg == state.end() || sq == state.end() || !avg->second.sizes().equals(params[i].sizes()) ||
        !sq->second.sizes().equals(params[i].sizes()))
      throw Error(ErrorCode::File, "checkpoint '" + path + "': optimiser state of parameter " + std::to_string(i) +
                                       " is missing or does not match the student's parameter of shape " +
                                       shapeToString(params[i].sizes().vec()));
    if (step->second.numel() != 1)
      throw Error(ErrorCode::File, "checkpoint '" + path + "': optimiser step count of parameter " + std::to_string(i) +
                                       " is not a single number");
    auto s = std::make_unique<torch::optim::AdamParamState>();
    s->step(step->second.item<int64_t>());
    s->exp_avg(avg->second.to(params[i].device(), params[i].scalar_type()).clone());
    s->exp_avg_sq(sq->second.to(params[i].device(), params[i].scalar_type()).clone());
    restored[i] = std::move(s);
  }
  auto& current = adam.state();
  current.clear();
  for (size_t i = 0; i < params.size(); ++i)
    if (restored[i]) current[params[i].unsafeGetTensorImpl()] = std::move(restored[i]);
}

}  // namespace kds
