-- wrk script: send absolute-form requests to a proxy. Arguments: the target URL, then
-- optionally "user:password" for a Proxy-Authorization: Basic header.
init = function(args)
  wrk.path = args[1]
  if args[2] then
    -- base64 of user:password (wrk's Lua has no base64; a small encoder)
    local b = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
    local s = args[2]
    local encoded = ((s:gsub('.', function(x)
      local r, byte = '', x:byte()
      for i = 8, 1, -1 do r = r .. (byte % 2 ^ i - byte % 2 ^ (i - 1) > 0 and '1' or '0') end
      return r
    end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
      if #x < 6 then return '' end
      local c = 0
      for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
      return b:sub(c + 1, c + 1)
    end) .. ({ '', '==', '=' })[#s % 3 + 1])
    wrk.headers["Proxy-Authorization"] = "Basic " .. encoded
  end
end
