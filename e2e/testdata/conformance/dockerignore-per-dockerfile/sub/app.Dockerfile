FROM {{busybox}}
COPY . /ctx/
