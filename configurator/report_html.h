#pragma once
// report.html of `dynamo-sim sweep`: one self-contained HTML5 page (inline CSS and SVG, no
// external resources, readable offline and safe to attach to a ticket) summarizing a sweep:
// inputs and counts, the chosen plan and its confirmation run, the Pareto chart (tokens/s/GPU
// against tokens/s/user), the top candidates and why the others were rejected.
#include <string>

#include "configurator/sweep_types.h"

namespace dynamo::configurator {

// Renders the report. Every text from the outcome is HTML-escaped. Works for any outcome,
// including one without passing candidates (the page says so and draws no chart).
std::string RenderSweepReport(const SweepOutcome& o);

}  // namespace dynamo::configurator
