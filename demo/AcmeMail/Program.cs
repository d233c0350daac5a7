using AcmeMail;

using var stop = new CancellationTokenSource();
return await AcmeMailCli.RunAsync(args, AppPaths.FromEnvironment(), stop.Token);
