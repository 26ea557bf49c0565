FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY scitq ./scitq
RUN pip install --no-cache-dir .
WORKDIR /
CMD ["scitq", "--help"]
