# Sourced by the bench scripts: a free loopback port, and nginx on CPU 1 serving $work/1k as
# the origin (access log off, unlimited keep-alive). Needs $work (a temp dir the caller
# removes, killing "$work/nginx.pid" on exit).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
start_origin() { # prints nothing; sets origin_port
  origin_port=$(free_port)
  head -c 1024 /dev/zero | tr '\0' 'x' > "$work/1k"
  cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work;
  server { listen 127.0.0.1:$origin_port; root $work; }
}
CONF
  taskset -c 1 nginx -c "$work/nginx.conf"
}
