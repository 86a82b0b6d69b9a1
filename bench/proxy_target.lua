-- wrk script: send absolute-form requests to a proxy. The target URL is the first argument.
init = function(args)
  wrk.path = args[1]
end
