import { FORECAST_HELP, runForecast } from "../../containers/forecast/cli.ts";
import type { Verb } from "./verb.ts";

/** `tessera forecast fit`: one series through the forecast engine (containers/forecast), CSV in, CSV out. */
const verb: Verb = {
  name: "forecast",
  summary: "Fit Prophet to a ds,y CSV and write ds,yhat,yhat_lower,yhat_upper (forecast fit)",
  help: FORECAST_HELP,
  run: (argv, io) => runForecast(argv, io),
};

export default verb;
