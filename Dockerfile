# One image for both services; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY backend_services ./backend_services
COPY shared ./shared
COPY botclub ./botclub
RUN pip install --no-cache-dir . && python -m backend.dashboard_vendor && useradd --create-home botclub
USER botclub
# Run from an empty folder so the source tree never shadows the installed packages.
WORKDIR /home/botclub
EXPOSE 8000 8001
