using Letterlock.Cli;

return await LetterlockCli.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);
